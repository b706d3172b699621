import type { BulkJobOptions, Job } from 'bullmq';

/** One job to add, as `Queue.addBulk` takes it. */
export interface EnqueueRequest<Data> {
  name: string;
  data: Data;
  opts?: BulkJobOptions;
}

interface Pending<Data> extends EnqueueRequest<Data> {
  resolve(job: Job<Data>): void;
  reject(error: unknown): void;
}

/** What the enqueuer needs of a queue (a BullMQ Queue). */
export interface BulkQueue<Data> {
  addBulk(jobs: Array<EnqueueRequest<Data>>): Promise<Array<Job<Data>>>;
}

/**
 * Coalesces the adds made in the same event-loop turn into one `Queue.addBulk`: BullMQ sends
 * the add scripts of a bulk in one pipeline, so many concurrent requests cost one Redis round
 * trip instead of one each. The bulk is sent on `setImmediate` (after the I/O callbacks of the
 * current turn have had their say), or at once when `maxPending` jobs are waiting.
 *
 * Each caller gets its own Job back, exactly as `Queue.add` would give it: the same add
 * script runs per job, so a job deduplicated by `deduplication.id` comes back with the id of
 * the job it was deduplicated into (verified in BullMQ 6.7: `Job.createBulk` takes the ids the
 * scripts return). When the bulk fails (Redis unreachable …), every caller in it gets the
 * error; nothing is dropped silently.
 */
export class LeadEnqueuer<Data> {
  static readonly DEFAULT_MAX_PENDING = 100;

  private pending: Array<Pending<Data>> = [];
  private scheduled: NodeJS.Immediate | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly queue: BulkQueue<Data>,
    private readonly maxPending = LeadEnqueuer.DEFAULT_MAX_PENDING,
  ) {}

  /** Adds one job, together with whatever else is added in this turn. */
  async add(name: string, data: Data, opts?: BulkJobOptions): Promise<Job<Data>> {
    const [job] = await this.addAll([{ name, data, opts }]);
    return job;
  }

  /** Adds these jobs in one bulk (with whatever else is pending); the jobs in request order. */
  addAll(requests: Array<EnqueueRequest<Data>>): Promise<Array<Job<Data>>> {
    const jobs = requests.map(
      (request) => new Promise<Job<Data>>((resolve, reject) => this.pending.push({ ...request, resolve, reject })),
    );
    if (this.pending.length >= this.maxPending) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
    return Promise.all(jobs);
  }

  /**
   * Sends what is pending now, and resolves once every bulk sent so far has been answered, or
   * after `timeoutMs` (a bulk may never settle while Redis is away; its callers have their own
   * timeout and have been answered 503 by then).
   */
  async drain(timeoutMs = Infinity): Promise<void> {
    this.flush();
    const answered = Promise.all(this.inFlight);
    if (!Number.isFinite(timeoutMs)) return void (await answered);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([answered, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    } finally {
      clearTimeout(timer);
    }
  }

  private flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const sent = this.send(batch).finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }

  private async send(batch: Array<Pending<Data>>): Promise<void> {
    let jobs: Array<Job<Data>>;
    try {
      jobs = await this.queue.addBulk(batch.map(({ name, data, opts }) => ({ name, data, opts })));
      if (jobs.length !== batch.length) throw new Error(`addBulk returned ${jobs.length} jobs for ${batch.length}`);
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    batch.forEach((entry, index) => entry.resolve(jobs[index]));
  }
}
