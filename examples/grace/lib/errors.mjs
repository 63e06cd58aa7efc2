// Error classes shared by routes and the HTTP layer. Kept free of imports so the HTTP
// server can start before SQLite and YAML are loaded.

/** Thrown by handlers for a client mistake; becomes `{ ok:false, error }` with this status. */
export class HttpError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
  }
}

/** Thrown when a database handle is closed (Guardian closed it, or SQLite refused to open it); routes answer 503. */
export class DatabaseUnavailableError extends Error {
  /** @param {string} name */
  constructor(name) {
    super(`database ${name} is closed`);
    this.name = 'DatabaseUnavailableError';
    this.db = name;
  }
}
