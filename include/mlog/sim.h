/* sim.h - the simulated transport: a whole group inside one OS process */
#ifndef MLOG_SIM_H
#define MLOG_SIM_H

/*
 * All processes of a group run in one OS process, driven by a seeded
 * scheduler. Frames travel on FIFO channels with random delays in virtual
 * milliseconds; the scheduler picks at random among channels whose next
 * frame has arrived. A crash drops the process's inbox and what is in
 * flight to it. The same seed and the same calls give the same run.
 *
 * The driver creates a sim, opens processes with transport `mlog_sim_ops`
 * and transport_config pointing to the sim, and loops: mlog_sim_step moves
 * one frame into its receiver's inbox and names the receiver, which the
 * driver then polls.
 */

#include "mlog/mlog.h"
#include "mlog/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlog_sim mlog_sim;

typedef struct mlog_sim_options {
  uint64_t seed;
  uint32_t procs;        /* group size */
  uint32_t min_delay_ms; /* frame delay range, virtual ms; both 0: 1..20 */
  uint32_t max_delay_ms;
  uint32_t drop_percent; /* frames lost in transit, 0..100 */
} mlog_sim_options;

/* The transport; its config is the mlog_sim pointer. */
extern const mlog_transport_ops mlog_sim_ops;

/* Create a simulation; *out owns it (destroy it after closing every process
 * opened on it). EINVAL for a bad option. */
MLOG_NODISCARD int mlog_sim_create(const mlog_sim_options *opt, mlog_sim **out);
void mlog_sim_destroy(mlog_sim *sim);

/* Move the next frame to its receiver's inbox, advancing virtual time to its
 * arrival when nothing has arrived yet; *dst names the receiver. MLOG_EAGAIN
 * when nothing is in flight. */
MLOG_NODISCARD int mlog_sim_step(mlog_sim *sim, uint32_t *dst);

/* Advance virtual time by ms (lets timers fire). */
void mlog_sim_advance(mlog_sim *sim, uint64_t ms);

/* Virtual time in ms. */
uint64_t mlog_sim_now(const mlog_sim *sim);

/* Frames in flight plus frames waiting in inboxes. */
uint64_t mlog_sim_pending(const mlog_sim *sim);

/* Crash process id: its inbox and the frames in flight to it vanish; frames
 * sent to it are dropped until it opens the transport again. */
void mlog_sim_crash(mlog_sim *sim, uint32_t id);

/* The simulation's seeded random numbers, for drivers that want their
 * choices (crash times, workloads) to follow the seed too. */
uint64_t mlog_sim_random(mlog_sim *sim);

#ifdef __cplusplus
}
#endif
#endif /* MLOG_SIM_H */
