export * from './field-error';
export * from './body-shape';
export * from './lead-validation';
