import { describePipeline } from './support/pipeline-suite';

// The scenarios live in support/pipeline-suite.ts, shared with the Redis Cluster run.
describePipeline();
