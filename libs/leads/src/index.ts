export * from './lead-job';
export * from './lead-status';
export * from './dto/create-lead.dto';
export * from './dto/lead-views.dto';
export * from './lead-sealing';
export * from './lead.repository';
