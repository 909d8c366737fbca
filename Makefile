# `make test` and `make demo` are the two entry points (see README).
SHELL := /bin/bash
ROOT := $(CURDIR)
LAB := tests/lab
export PATH := $(ROOT)/.venv/bin:$(PATH)
export CONTAINERS_CONF := $(ROOT)/$(LAB)/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/.cache/collections
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export PYTHONPATH := $(ROOT)/.cache/collections
TIER := $(LAB)/tier.sh
# The lowest ansible-core the collection supports (meta/runtime.yml); .venv holds the highest (2.19).
CORE_LOWEST := 2.16.19

.PHONY: test demo deps lab sanity sanity-lowest lint lint-lowest unit integration molecule build summary clean docs

test: deps lab
	@rm -f .cache/tier-times
	@$(MAKE) --no-print-directory --keep-going sanity sanity-lowest lint lint-lowest unit integration molecule; rc=$$?; \
	  echo "===== summary"; cat .cache/tier-times; exit $$rc

deps:
	@$(LAB)/deps.sh

lab: deps
	@$(LAB)/libvirtd.sh
	@$(LAB)/image.sh
	@$(LAB)/collection.sh

sanity:
	@$(TIER) sanity $(LAB)/sanity.sh

sanity-lowest:
	@$(TIER) sanity-$(CORE_LOWEST) $(LAB)/sanity.sh --core $(CORE_LOWEST)

lint:
	@$(TIER) ansible-lint $(LAB)/lint.sh

lint-lowest:
	@$(TIER) ansible-lint-$(CORE_LOWEST) $(LAB)/lint.sh --core $(CORE_LOWEST)

unit:
	@$(TIER) unit pytest -q -p no:cacheprovider tests/unit

integration:
	@$(TIER) integration pytest -q -p no:cacheprovider tests/integration

molecule:
	@$(TIER) molecule $(LAB)/molecule.sh

demo: deps lab
	@$(LAB)/demo.sh

# The module reference docs/modules/ from each module's DOCUMENTATION (tests/unit/test_module_docs.py fails when stale).
docs:
	@python tests/lab/module_docs.py

build:
	@mkdir -p build && ansible-galaxy collection build --force --output-path build .

clean:
	rm -rf build .cache
