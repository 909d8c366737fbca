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
# The ansible-core matrix (meta/runtime.yml, README): .venv holds 2.19 (the newest that installs
# on Python 3.11; make demo runs there); the lowest and the newest live in
# .cache/ansible-core-<version> (tests/lab/core.sh; 2.21 on pyenv's 3.13/3.12). The integration
# tier and molecule run with the newest as controller: tests/requirements-controller.txt in
# .cache/controller-<version> (ansible 14 bundle, libvirt-python, molecule, pytest).
CORE_LOWEST := 2.16.19
CORE_NEWEST := 2.21.5
CONTROLLER_CORE := $(shell sed -n 's/^ansible-core==//p' tests/requirements-controller.txt)

.PHONY: test demo deps lab static lane-sanity lane-other sanity sanity-lowest sanity-newest \
	lint lint-lowest lint-newest unit unit-lowest unit-newest integration molecule build summary clean docs

# Two lanes of static tiers side by side (2 cores), balanced by measured time: sanity on 2.19
# and 2.16 in one lane; sanity on 2.21, ansible-lint, unit and the Galaxy importer in the
# other. Then the tiers that boot test hosts and guests, alone. --output-sync keeps each
# tier's output in one piece.
test: deps lab
	@rm -f .cache/tier-times
	@rc=0; \
	  $(MAKE) --no-print-directory -j2 --output-sync=target --keep-going static || rc=1; \
	  $(MAKE) --no-print-directory --keep-going integration molecule || rc=1; \
	  echo "===== summary"; cat .cache/tier-times; exit $$rc

static: lane-sanity lane-other

lane-sanity:
	@rc=0; for t in sanity sanity-lowest; do $(MAKE) --no-print-directory $$t || rc=1; done; exit $$rc

lane-other:
	@rc=0; for t in sanity-newest lint lint-lowest lint-newest unit unit-lowest unit-newest importer; do \
	  $(MAKE) --no-print-directory $$t || rc=1; done; exit $$rc

deps:
	@$(LAB)/deps.sh

lab: deps
	@$(LAB)/libvirtd.sh
	@$(LAB)/image.sh
	@$(LAB)/cloudimage.sh
	@$(LAB)/collection.sh

sanity:
	@$(TIER) sanity $(LAB)/sanity.sh

sanity-lowest:
	@$(TIER) sanity-$(CORE_LOWEST) $(LAB)/sanity.sh --core $(CORE_LOWEST)

sanity-newest:
	@$(TIER) sanity-$(CORE_NEWEST) $(LAB)/sanity.sh --core $(CORE_NEWEST)

lint:
	@$(TIER) ansible-lint $(LAB)/lint.sh

lint-lowest:
	@$(TIER) ansible-lint-$(CORE_LOWEST) $(LAB)/lint.sh --core $(CORE_LOWEST)

lint-newest:
	@$(TIER) ansible-lint-$(CORE_NEWEST) $(LAB)/lint.sh --core $(CORE_NEWEST)

unit:
	@$(TIER) unit $(LAB)/unit.sh

unit-lowest:
	@$(TIER) unit-$(CORE_LOWEST) $(LAB)/unit.sh --core $(CORE_LOWEST)

unit-newest:
	@$(TIER) unit-$(CORE_NEWEST) $(LAB)/unit.sh --core $(CORE_NEWEST)

# Galaxy's importer on the tarball `make build` would make (its own venv, offline).
importer:
	@$(TIER) galaxy-importer $(LAB)/importer.sh

integration:
	@$(TIER) integration-$(CONTROLLER_CORE) $(LAB)/integration.sh

molecule:
	@$(TIER) molecule-$(CONTROLLER_CORE) $(LAB)/molecule.sh

demo: deps lab
	@$(LAB)/demo.sh

# The documentation site: antsibull-docs' module/plugin/role reference and the guides,
# offline, into .cache/docs/html (tests/integration/test_docs_site.py opens it in Chromium).
docs:
	@docs/build.sh

build:
	@mkdir -p build && ansible-galaxy collection build --force --output-path build .

clean:
	rm -rf build .cache
