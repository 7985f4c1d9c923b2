#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The VM suite on the newest installed 6.12 kernel (see tests/vm/suite).
exec "$(dirname "$0")/suite" 6.12
