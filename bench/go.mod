module github.com/redlock-go/redlock/bench

go 1.26.0

require (
	github.com/bsm/redislock v0.9.4
	github.com/go-redsync/redsync/v4 v4.18.0
	github.com/gomodule/redigo v1.9.3
	github.com/redis/go-redis/v9 v9.22.0
	github.com/redis/rueidis v1.0.80
	github.com/redis/rueidis/rueidiscompat v1.0.79
	github.com/redlock-go/redlock v0.0.0
	github.com/redlock-go/redlock/backend/goredis v0.0.0
	github.com/redlock-go/redlock/backend/redigo v0.0.0
	github.com/redlock-go/redlock/backend/rueidis v0.0.0
	github.com/redlock-go/redlock/backend/valkey v0.0.0
	github.com/valkey-io/valkey-go v1.0.80
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace (
	github.com/redlock-go/redlock => ../
	github.com/redlock-go/redlock/backend/goredis => ../backend/goredis
	github.com/redlock-go/redlock/backend/redigo => ../backend/redigo
	github.com/redlock-go/redlock/backend/rueidis => ../backend/rueidis
	github.com/redlock-go/redlock/backend/valkey => ../backend/valkey
)
