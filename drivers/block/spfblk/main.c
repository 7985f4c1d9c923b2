// SPDX-License-Identifier: GPL-2.0
/*
 * spfblk: module parameters, init and exit.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/blkdev.h>
#include <linux/workqueue.h>

#include "spfblk.h"

struct spf_config spf_config = {
	.max_devices	= 16,
	.cache_mb	= 64,
	.nr_workers	= 16,
};

module_param_named(max_devices, spf_config.max_devices, uint, 0444);
MODULE_PARM_DESC(max_devices,
		 "Devices attached at once, 1 to 65536 (default 16)");
module_param_named(cache_mb, spf_config.cache_mb, uint, 0644);
MODULE_PARM_DESC(cache_mb,
		 "Default extent cache budget per device in MiB (default 64)");
module_param_named(nr_workers, spf_config.nr_workers, uint, 0444);
MODULE_PARM_DESC(nr_workers,
		 "Worker contexts per device, at most one per online CPU (default 16)");

int spf_major;
/* Runs autoclear detaches; destroyed last, so none outlives the module. */
struct workqueue_struct *spf_ctl_wq;

static int __init spf_init(void)
{
	int ret;

	if (!spf_config.max_devices ||
	    spf_config.max_devices > SPF_MAX_DEVICES) {
		pr_err("max_devices must be 1 to %u\n", SPF_MAX_DEVICES);
		return -EINVAL;
	}
	if (!spf_config.nr_workers)
		spf_config.nr_workers = 1;

	ret = register_blkdev(0, SPF_DISK_NAME);
	if (ret < 0)
		return ret;
	spf_major = ret;

	ret = spf_crc_init();
	if (ret)
		goto out_blkdev;

	ret = spf_crypt_init();
	if (ret)
		goto out_crc;

	ret = spf_extent_slab_init();
	if (ret)
		goto out_crc;

	spf_ctl_wq = alloc_workqueue("spf-control", WQ_UNBOUND, 0);
	if (!spf_ctl_wq) {
		ret = -ENOMEM;
		goto out_slab;
	}

	ret = spf_control_init();
	if (ret)
		goto out_wq;

	pr_info("loaded: major %d, up to %u devices\n", spf_major,
		spf_config.max_devices);
	return 0;

out_wq:
	destroy_workqueue(spf_ctl_wq);
out_slab:
	spf_extent_slab_exit();
out_crc:
	spf_crc_exit();
out_blkdev:
	unregister_blkdev(spf_major, SPF_DISK_NAME);
	return ret;
}

/*
 * Every device holds a module reference, so no device exists here.  An
 * autoclear work item may still be returning from its last module_put():
 * destroy_workqueue() waits for it.
 */
static void __exit spf_exit(void)
{
	spf_control_exit();
	destroy_workqueue(spf_ctl_wq);
	spf_extent_slab_exit();
	spf_crc_exit();
	unregister_blkdev(spf_major, SPF_DISK_NAME);
}

module_init(spf_init);
module_exit(spf_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Block device over a chain of SPF backup images, with a write-back overlay");
MODULE_AUTHOR("spfblk developers");
MODULE_SOFTDEP("pre: crc32c gcm aes");
