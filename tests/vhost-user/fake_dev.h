/* SPDX-License-Identifier: MIT */
/*
 * A fake struct vback_dev: implements the vback_dev_* calls the vhost-user
 * transport makes and records them, so the tests can check exactly what
 * the transport told the device - and play the device's part (IO in
 * flight, notifications) at will.
 */
#ifndef VBACK_TEST_FAKE_DEV_H
#define VBACK_TEST_FAKE_DEV_H

#include <vback/mmio.h>

#define FAKE_QUEUES	 4
#define FAKE_CONFIG_SIZE 60

struct fake_queue {
	uint16_t size, max, last_avail;
	struct vback_vq_addr addr;
	bool enabled, stopped;
	unsigned int inflight; /* requests "in flight" */
	unsigned int kicks, enables, resets;
	unsigned int inflight_per_kick; /* each kick starts this many */
	void *rec;			/* vback_dev_queue_set_inflight() */
	size_t rec_len;
	unsigned int rec_sets;	  /* calls with a record */
	unsigned int rec_forgets; /* NULL while enabled: left as it is */
	bool rec_at_enable;	  /* a record was set when it was enabled */
};

struct vback_dev {
	uint64_t features, driver_features;
	uint8_t status;
	uint8_t config[FAKE_CONFIG_SIZE];
	int config_write_ret;
	unsigned int nq;
	struct fake_queue q[FAKE_QUEUES];
	bool attached;
	struct vback_dev_transport t;
	unsigned int resets, detaches;
};

struct vback_dev *fake_dev_new(unsigned int nq);
void fake_dev_free(struct vback_dev *dev);
/* Finish queue @q's in-flight requests (queue_idle when stopped). */
void fake_dev_complete(struct vback_dev *dev, unsigned int q);
void fake_dev_notify_queue(struct vback_dev *dev, unsigned int q);
void fake_dev_notify_config(struct vback_dev *dev);

#endif /* VBACK_TEST_FAKE_DEV_H */
