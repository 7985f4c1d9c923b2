#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The boot test with 6.1 as the test VM's kernel (see tests/boot/run).
exec "$(dirname "$0")/run" 6.1
