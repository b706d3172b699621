export * from './lead-event.types';
