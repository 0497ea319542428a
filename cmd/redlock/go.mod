module github.com/redlock-go/redlock/cmd/redlock

go 1.24

require (
	github.com/alicebob/miniredis/v2 v2.40.0
	github.com/cenkalti/backoff/v4 v4.3.0
	github.com/redis/go-redis/v9 v9.7.3
	github.com/redlock-go/redlock v0.0.0
	github.com/redlock-go/redlock/backend/goredis v0.0.0
	github.com/stretchr/testify v1.11.1
	golang.org/x/sys v0.35.0
	golang.org/x/term v0.34.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/dgryski/go-rendezvous v0.0.0-20200823014737-9f7001d12a5f // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	github.com/yuin/gopher-lua v1.1.1 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	github.com/redlock-go/redlock => ../..
	github.com/redlock-go/redlock/backend/goredis => ../../backend/goredis
)
