import type { BulkJobOptions } from 'bullmq';
import { RedisUnavailableException } from '../common/problem';

/** One job to add, as `Queue.addBulk` takes it. */
export interface EnqueueRequest<Data> {
  name: string;
  data: Data;
  opts?: BulkJobOptions;
}

interface Pending<Request, Stored> {
  request: Request;
  resolve(stored: Stored): void;
  reject(error: unknown): void;
}

/**
 * Where the enqueuer stores a bulk, answering one result per request, in order: the lead
 * repository (LeadRepository.enqueueMany), or a BullMQ Queue itself (requests are then
 * EnqueueRequests and results Jobs).
 */
export interface BulkQueue<Request, Stored> {
  addBulk(requests: Request[]): Promise<Stored[]>;
}

/** What the enqueuer needs to wait for replicas (a ReplicaAck on the queue's own connection). */
export interface ReplicaWait {
  readonly replicas: number;
  readonly timeoutMs: number;
  /** Identifies the connection the next writes go out on. */
  mark(): number;
  /** WAIT: how many replicas acknowledged the writes made on the marked connection. */
  acknowledged(mark: number): Promise<number>;
}

export interface LeadEnqueuerOptions {
  /** When set (REDIS_WAIT_REPLICAS > 0), a bulk is answered only once that many replicas have it. */
  replication?: ReplicaWait;
  /** Told when a bulk was stored but not confirmed by enough replicas (for a log line and a metric). */
  onUnreplicated?(event: { jobs: number; acknowledged: number | null; error?: Error }): void;
}

/** A 503 (Retry-After) for leads the primary stored but too few replicas confirmed. */
function unreplicatedException(replication: Pick<ReplicaWait, 'replicas' | 'timeoutMs'>): RedisUnavailableException {
  return new RedisUnavailableException(
    `The lead queue (Redis) could not confirm within ${replication.timeoutMs} ms that ${replication.replicas} replica(s) ` +
      'hold this lead, so it could be lost if Redis fails over. The lead may have been stored: retry later with the same ' +
      'Idempotency-Key (or the same webhook-id / external_ref); that is safe and does not create a duplicate.',
  );
}

/**
 * Coalesces the adds made in the same event-loop turn into one `Queue.addBulk`: BullMQ sends
 * the add scripts of a bulk in one pipeline, so many concurrent requests cost one Redis round
 * trip instead of one each. The bulk is sent on `setImmediate` (after the I/O callbacks of the
 * current turn have had their say), or at once when `maxPending` jobs are waiting.
 *
 * Each caller gets its own result back (a Job, or the stored job's id), exactly as
 * `Queue.add` would give it: the same add script runs per job, so a job deduplicated by
 * `deduplication.id` comes back with the id of the job it was deduplicated into (verified in BullMQ 6.7: `Job.createBulk` takes the ids the
 * scripts return). When the bulk fails (Redis unreachable …), every caller in it gets the
 * error; nothing is dropped silently.
 *
 * With `replication` (REDIS_WAIT_REPLICAS), a stored bulk is followed by one WAIT; when fewer
 * replicas acknowledged it in time (or WAIT failed), every caller of the bulk gets the same
 * 503 (RedisUnavailableException, Retry-After) saying the lead may have been stored.
 */
export class LeadEnqueuer<Request, Stored> {
  static readonly DEFAULT_MAX_PENDING = 100;

  private pending: Array<Pending<Request, Stored>> = [];
  private scheduled: NodeJS.Immediate | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly queue: BulkQueue<Request, Stored>,
    private readonly maxPending = LeadEnqueuer.DEFAULT_MAX_PENDING,
    private readonly options: LeadEnqueuerOptions = {},
  ) {}

  /** Adds one job, together with whatever else is added in this turn. */
  async add(request: Request): Promise<Stored> {
    const [stored] = await this.addAll([request]);
    return stored;
  }

  /** Adds these jobs in one bulk (with whatever else is pending); the results in request order. */
  addAll(requests: Request[]): Promise<Stored[]> {
    const jobs = requests.map((request) => new Promise<Stored>((resolve, reject) => this.pending.push({ request, resolve, reject })));
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

  /** Settles every caller of the bulk, whatever fails on the way (a caller left waiting would hang its request). */
  private async send(batch: Array<Pending<Request, Stored>>): Promise<void> {
    let jobs: Stored[];
    try {
      jobs = await this.store(batch);
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    batch.forEach((entry, index) => entry.resolve(jobs[index]));
  }

  private async store(batch: Array<Pending<Request, Stored>>): Promise<Stored[]> {
    const { replication } = this.options;
    const mark = replication?.mark();
    const jobs = await this.queue.addBulk(batch.map(({ request }) => request));
    if (jobs.length !== batch.length) throw new Error(`addBulk returned ${jobs.length} jobs for ${batch.length}`);
    if (replication && !(await this.replicated(replication, mark!, batch.length))) throw unreplicatedException(replication);
    return jobs;
  }

  /**
   * One WAIT for the whole bulk, on the connection the bulk was written with. It covers the
   * replays of the bulk too: a deduplicated add still writes (its "deduplicated" event) and
   * replication is one ordered stream, so a replica that has that write also has the job it
   * was deduplicated into, whichever connection or process wrote it.
   */
  private async replicated(replication: ReplicaWait, mark: number, jobs: number): Promise<boolean> {
    try {
      const acknowledged = await replication.acknowledged(mark);
      if (acknowledged >= replication.replicas) return true;
      this.options.onUnreplicated?.({ jobs, acknowledged });
    } catch (error) {
      this.options.onUnreplicated?.({ jobs, acknowledged: null, error: error as Error });
    }
    return false;
  }
}
