module github.com/redlock-go/redlock/backend/rueidis

go 1.24

require (
	github.com/redis/rueidis v1.0.69
	github.com/redlock-go/redlock v0.0.0
	github.com/stretchr/testify v1.11.1
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	golang.org/x/sys v0.31.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace github.com/redlock-go/redlock => ../..
