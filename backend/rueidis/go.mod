module github.com/redlock-go/redlock/backend/rueidis

go 1.24

require github.com/redlock-go/redlock v0.0.0

replace github.com/redlock-go/redlock => ../..
