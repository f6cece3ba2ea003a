/**
 * Analysis written when the two older benchmarks were built (issues 4 and 6), kept in
 * BENCHMARKS.md under each benchmark's fresh figures because it still explains them. The
 * numbers quoted here are from those earlier runs, and say so.
 */
export const KEPT_ANALYSIS: Record<string, string> = {
  'eval-run': `Analysis from the issue-6 runs (their figures: 11.9–13.4 s wall, 471–506 MB peak RSS with \`--with-worker\`, 125 MB with \`--detach\`; a run with the fake answering in 0 ms took 7.0 s wall, 5.9 s run, ≈ 340 cases/s):

- CPU, not the queue or the follower, bounds the wall time. With chat at 0 ms the same 2,000 cases still took 5.9 s: ≈ 3 ms of CPU per case on two shared cores (local hashing embeddings + LanceDB query in the worker, BullMQ's per-job scripts, the retrieval checkpoint write, scoring, and the CLI's event handling), so the 5 s goal is out of reach on this machine even with an instant model.
- Each of the 100 slots runs retrieve _then_ generate, so a slot's turn is retrieve (150–210 ms under CPU contention, ~20 ms idle) + 200 ms chat, ≈ 220 cases/s → ~9 s for 2,000.
- Memory: the in-process worker is most of it (LanceDB native, LangChain/OpenAI SDK, 100 jobs in flight); the CLI's own enqueue + follow path peaked at 125 MB for the same run size. Results are streamed to disk; the follower holds only unfinished cases (bounded by \`maxPending\`, 20,000).
- To approach the goal: run the in-process worker on a separate process/core, batch the local embeddings/LanceDB queries across concurrent jobs, or use deployed workers (\`--detach\` / without \`--with-worker\`), where the CLI stays at ~125 MB.`,
  'http-enqueue': `Analysis from the issue-4 runs (their figures: 3,381–3,802 req/s single and 9,543–14,047 questions/s batched at 64 connections, load average 4.0–6.6):

- Batches are bound by BullMQ's per-job cost, not HTTP: measured on its own (one process, no HTTP, no concurrent load), \`Queue.addBulk\` of 1,000 jobs took ≈ 52 ms, i.e. ≈ 19,000 jobs/s, made of ≈ 24 µs of Redis time per job (\`INFO commandstats\`: \`evalsha\` 23.75 µs/call — one Lua \`addStandardJob\` per job) and ≈ 31 µs of Node CPU per job (Job objects, msgpack of options, command encoding). Parsing and validating a 1,000-question body adds ≈ 8 ms. On two cores shared by the API process, Redis and the load generator, those figures suggested a cap near 15–20k questions/s; the run above measured more than that, so that estimate was pessimistic (the isolated addBulk timing was taken under other load), and it is not used as a bound here. What still holds: every question costs one BullMQ Lua script in Redis plus Node CPU in the API process, both on the same two cores, so reaching 30k would need a cheaper enqueue than one BullMQ script per job, or more cores (Redis and the API on their own).`,
};
