# The two commands a newcomer needs (as root on Debian 12): `make demo` and `make test`.
.PHONY: setup demo test bench

setup:
	./scripts/setup.sh

demo: setup
	./scripts/demo.sh
	./scripts/demo.sh ovs

test: setup
	./scripts/test.sh

bench: setup
	.venv/bin/python bench/run_all.py
