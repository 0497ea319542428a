module github.com/redlock-go/redlock/backend/redigo

go 1.24

require (
	github.com/gomodule/redigo v1.9.2
	github.com/redlock-go/redlock v0.0.0
	github.com/stretchr/testify v1.11.1
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace github.com/redlock-go/redlock => ../..
