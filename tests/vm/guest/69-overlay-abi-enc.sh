#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# 69-overlay-abi on encrypted chains (deflate, zstd, lz4; 4 KiB and 1 MiB
# chunks; 1 to 100 layers): the overlay is encrypted under spfovl's own
# key, the attach refusals of no key and a wrong key are checked, and
# every record is opened in user space.  Results: overlay-abi-CHAIN-CHECK.
SPF_OVL_CHAINS="zstd-enc-4k-depth10 deflate-enc-4k-depth100 lz4-enc-1m-depth1" \
	exec "$(dirname "$0")/69-overlay-abi.sh"
