# SPDX-License-Identifier: GPL-2.0
#
# spfblk: the two commands a user needs are `make demo` and `make check`.
#
#   make            build spfctl (userspace)
#   make module     build spfblk.ko for KVER (default: the running kernel)
#   make demo       the whole journey in a VM: image, attach, mount, files
#   make check      every test: userspace, fuzz (short), VM suites on 6.1 + 6.12
#   make bench      benchmarks (not part of check)
#   make fuzz       a long fuzzing run
#   make lint       checkpatch --strict, sparse and W=1 on both kernels
#   make install    install spfctl and spfblk.ko on this host
#   make deps       install the Debian packages everything needs (root)

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
PREFIX ?= /usr/local
DESTDIR ?=

SPFCTL := tools/spfctl/spfctl

.PHONY: all spfctl module clean deps deps-auto check check-user check-vm demo bench \
	fuzz lint install uninstall

all: spfctl

spfctl:
	$(MAKE) -C tools/spfctl

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

deps:
	@scripts/install-deps

# As root, install what is missing first; otherwise just say what is.
deps-auto:
	@if [ "$$(id -u)" = 0 ]; then scripts/install-deps; \
	else scripts/install-deps --check; fi

check: deps-auto
	@scripts/check

check-user: deps-auto
	@scripts/check --user

check-vm: deps-auto
	@scripts/check --vm

demo: deps-auto
	@scripts/demo

bench: deps-auto spfctl
	@tests/bench/run

fuzz: deps-auto
	$(MAKE) -C tests/fuzz fuzz

lint: deps-auto
	@scripts/lint

install: spfctl module
	install -D -m 0755 $(SPFCTL) $(DESTDIR)$(PREFIX)/sbin/spfctl
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_DIR=extra modules_install
	[ -n "$(DESTDIR)" ] || depmod -a $(KVER)

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/spfctl
	rm -f /lib/modules/$(KVER)/extra/spfblk.ko*
	depmod -a $(KVER)

clean:
	$(MAKE) -C tools/spfctl clean
	-$(MAKE) -C tests/fuzz clean
	rm -rf build
	find drivers -name '*.o' -o -name '*.ko' -o -name '*.mod*' -o -name '.*.cmd' | xargs rm -f
	rm -f modules.order Module.symvers
