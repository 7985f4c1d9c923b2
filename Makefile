# SPDX-License-Identifier: GPL-2.0
#
# spfblk: the two commands a user needs are `make demo` and `make check`.
#
#   make            build spfctl (userspace)
#   make module     build spfblk.ko for KVER (default: the running kernel)
#   make demo       the whole journey in a VM: image, attach, mount, files
#   make check      every test: userspace, fuzz (short), VM suites on 6.1 + 6.12
#   make check-slow the tests too slow for check: boot a qemu guest from a
#                   backup chain on /dev/spfN, nested in the VM (6.1 + 6.12)
#   make check-debug  the VM suite on a KASAN/lockdep/UBSAN/kmemleak 6.1
#                   kernel built from linux-source-6.1 (cached; not in check)
#   make bench      benchmarks (not part of check)
#   make soak       10 min verified read load on 2 devices in a 6.12 guest
#                   (SOAK_KERNEL=6.1, SOAK_TIME=seconds; not part of check)
#   make fuzz       a long fuzzing run
#   make storm      a long corrupt-image storm on 6.12 and 6.1 (STORM_SEED,
#                   default random; STORM_COUNT, default 2000; STORM_TIME,
#                   seconds per kernel, default 1800; not part of check)
#   make lint       checkpatch --strict, sparse and W=1 on both kernels
#   make install    install spfctl and spfblk.ko on this host
#   make deb        Debian packages spfctl and spfblk-dkms in build/deb/
#   make deps       install the Debian packages everything needs (root)

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
PREFIX ?= /usr/local
DESTDIR ?=
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# udev reads /etc, /run and /usr/lib, not /usr/local.
UDEVRULESDIR ?= /etc/udev/rules.d

SPFCTL := tools/spfctl/spfctl

.PHONY: all spfctl module clean deps deps-auto check check-user check-vm check-slow check-debug demo bench soak \
	fuzz lint install uninstall storm deb

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

check-slow: deps-auto
	@scripts/check-slow

check-debug: deps-auto spfctl
	@scripts/check-debug

demo: deps-auto
	@scripts/demo

bench: deps-auto spfctl
	@tests/bench/run

SOAK_KERNEL ?= 6.12
soak: deps-auto spfctl
	@tests/vm/soak.sh $(SOAK_KERNEL)

fuzz: deps-auto
	$(MAKE) -C tests/fuzz fuzz

# tests/vm/guest/85-storm.sh with a big storm (tests/storm/mkstorm); the
# seed is printed so that a failure can be run again.
ifeq ($(origin STORM_SEED), undefined)
STORM_SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
STORM_COUNT ?= 2000
STORM_TIME ?= 1800
STORM_KERNELS ?= 6.12 6.1
storm: deps-auto spfctl
	@echo "storm: seed $(STORM_SEED), $(STORM_COUNT) cases, $(STORM_TIME) s a kernel; again: make storm STORM_SEED=$(STORM_SEED) STORM_COUNT=$(STORM_COUNT)"
	@rc=0; for k in $(STORM_KERNELS); do \
		SPF_ONLY=85-storm SPF_SUITE_TAG=storm SPF_STORM_SEED=$(STORM_SEED) \
		SPF_STORM_COUNT=$(STORM_COUNT) SPF_STORM_TIME=$(STORM_TIME) \
		SPF_SCRIPT_TIMEOUT=$$(($(STORM_TIME) + 120)) \
		SPF_VM_TIMEOUT=$$(($(STORM_TIME) + 600)) tests/vm/suite $$k || rc=1; \
	done; echo "storm: seed $(STORM_SEED), $(STORM_COUNT) cases: $$([ $$rc = 0 ] && echo passed || echo FAILED)"; exit $$rc

lint: deps-auto
	@tests/lint/lint.sh

install: spfctl module
	install -D -m 0755 $(SPFCTL) $(DESTDIR)$(PREFIX)/sbin/spfctl
	install -D -m 0644 man/spfctl.8 $(DESTDIR)$(MANDIR)/man8/spfctl.8
	install -D -m 0644 man/spfblk.4 $(DESTDIR)$(MANDIR)/man4/spfblk.4
	install -D -m 0644 contrib/bash-completion/spfctl $(DESTDIR)$(BASHCOMPDIR)/spfctl
	install -D -m 0644 contrib/udev/60-spfblk.rules $(DESTDIR)$(UDEVRULESDIR)/60-spfblk.rules
	[ -n "$(DESTDIR)" ] || ! [ -e /run/udev/control ] || udevadm control --reload
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_DIR=extra modules_install
	[ -n "$(DESTDIR)" ] || depmod -a $(KVER)

# scripts/mkdeb: spfctl_VERSION_ARCH.deb and spfblk-dkms_VERSION_all.deb.
deb:
	@scripts/mkdeb build/deb

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/spfctl
	rm -f $(DESTDIR)$(MANDIR)/man8/spfctl.8 $(DESTDIR)$(MANDIR)/man4/spfblk.4
	rm -f $(DESTDIR)$(BASHCOMPDIR)/spfctl $(DESTDIR)$(UDEVRULESDIR)/60-spfblk.rules
	rm -f /lib/modules/$(KVER)/extra/spfblk.ko*
	depmod -a $(KVER)

clean:
	$(MAKE) -C tools/spfctl clean
	-$(MAKE) -C tests/fuzz clean
	rm -rf build
	find drivers -name '*.o' -o -name '*.ko' -o -name '*.mod*' -o -name '.*.cmd' | xargs rm -f
	rm -f modules.order Module.symvers
