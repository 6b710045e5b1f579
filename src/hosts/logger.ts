// The logging nines' host layer needs: a pino Logger fits (structural typing), so does a test spy.
export interface HostLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}
