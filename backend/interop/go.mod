module github.com/redlock-go/redlock/backend/interop

go 1.26.0

require (
	github.com/redlock-go/redlock v0.0.0
	github.com/redlock-go/redlock/backend/goredis v0.0.0
	github.com/redlock-go/redlock/backend/redigo v0.0.0
	github.com/redlock-go/redlock/backend/rueidis v0.0.0
	github.com/redlock-go/redlock/backend/valkey v0.0.0
	github.com/stretchr/testify v1.11.1
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/gomodule/redigo v1.9.2 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	github.com/redis/go-redis/v9 v9.7.3 // indirect
	github.com/redis/rueidis v1.0.69 // indirect
	github.com/valkey-io/valkey-go v1.0.80 // indirect
	golang.org/x/sys v0.50.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	github.com/redlock-go/redlock => ../..
	github.com/redlock-go/redlock/backend/goredis => ../goredis
	github.com/redlock-go/redlock/backend/redigo => ../redigo
	github.com/redlock-go/redlock/backend/rueidis => ../rueidis
	github.com/redlock-go/redlock/backend/valkey => ../valkey
)
