# The two commands of the README, and the build steps they share.
#   make run   — the main job: bring the platform up on this machine (installs what it
#                needs), upload a sample (or VIDEO=path), transcode it, print its URLs
#   make test  — the whole test suite: plain, sanitizer and fuzz builds against the real stack
#   make test-long — the tests labelled "long" (the autoscaler's Kafka outage: it stops
#                the stack's Kafka), outside make test and CI
#   make fresh-check — make run + make test in a fresh clone on a bare Debian 12 container
.PHONY: run test test-long fresh-check build build-asan bootstrap stack-up stack-down clean images chaos

run:
	scripts/run.sh $(VIDEO)

test:
	scripts/test.sh

test-long:
	MCLOUD_TEST_LONG=1 scripts/test.sh

fresh-check:
	scripts/fresh-check.sh

bootstrap:
	scripts/bootstrap.sh

# the fault suite, full version (tests/chaos/): 100 videos, every fault twice,
# against the stack (brought up first); the report is build/chaos-report.md;
# then the three-broker Kafka fault on its own KRaft cluster (kafka3.sh)
chaos: build
	scripts/stack.sh up
	bash tests/e2e/upload/install.sh
	bash tests/chaos/run.sh build --videos 100 --rounds 2
	bash tests/chaos/kafka3.sh build

# the service images (podman), cached: an unchanged tree rebuilds in seconds
images:
	scripts/images.sh

build:
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build

build-asan:
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMCLOUD_SANITIZE=ON
	cmake --build build-asan

stack-up:
	scripts/stack.sh up

stack-down:
	scripts/stack.sh down

clean:
	rm -rf build build-asan build-fuzz build-release
