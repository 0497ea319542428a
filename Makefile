# Every module of the workspace, in dependency order.
MODULES := $(shell go list -m -f '{{.Dir}}')

.PHONY: test redis-server spin model model-full vet bench bench-short demo

# test runs every module's tests under -race against real redis-server
# processes that the tests start themselves. make model checks the
# protocol model (under 40 seconds); CI runs both.
test: redis-server
	@set -e; for m in $(MODULES); do \
		echo "== go test $$m"; \
		(cd $$m && go test -race -count=1 -timeout 20m ./...); \
	done

# model checks the protocol model with spin (model/README.md): today's
# protocol must hold every property, each defect put back must be caught.
# model is a quick pass (seven configurations, under 40 seconds on 2
# cores), what CI runs; model-full checks every configuration with the
# symmetry reduction (several minutes), for changes to the protocol.
model: spin
	@echo "== spin model/redlock.pml (quick)"
	@bash model/check.sh quick

model-full: spin
	@echo "== spin model/redlock.pml"
	@bash model/check.sh

# APT waits for a dpkg lock held by another install (two runs at once on a
# fresh machine) instead of failing.
APT := apt-get -o DPkg::Lock::Timeout=300

# redis-server makes sure the Debian packages redis-server and
# redis-sentinel (for the Sentinel cases) are installed.
redis-server:
	@command -v redis-server >/dev/null 2>&1 && command -v redis-sentinel >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing redis-server and redis-sentinel"; \
			($(APT) install -y redis-server redis-sentinel || ($(APT) update && $(APT) install -y redis-server redis-sentinel)) >/dev/null; \
		else \
			echo "redis-server or redis-sentinel is missing: install the Debian packages (sudo apt-get install -y redis-server redis-sentinel)"; exit 1; \
		fi; }

# spin makes sure the Debian package spin (and a C compiler) is installed.
spin:
	@command -v spin >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing spin"; \
			($(APT) install -y spin gcc || ($(APT) update && $(APT) install -y spin gcc)) >/dev/null; \
		else \
			echo "spin is missing: install the Debian packages spin and gcc (sudo apt-get install -y spin gcc)"; exit 1; \
		fi; }

vet:
	@set -e; for m in $(MODULES); do (cd $$m && gofmt -l . && go vet ./...); done

# bench measures this library against the other Go lock libraries and a
# floor with no lock library, on redis-server processes it starts on
# loopback, and writes bench/RESULTS.md and bench/results.svg (about 12
# minutes on 2 cores). bench-short does fewer, shorter passes (about 3
# minutes). Neither is part of test.
bench: redis-server
	cd bench && go run .

bench-short: redis-server
	cd bench && go run . -short

# demo shows the lock at work on embedded nodes: no server needed.
demo:
	go run ./cmd/redlock demo
