import { type FSWatcher, watch } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { LogLine } from './types.js';

/**
 * Follows a log file like `tail -F`: reacts to file-change events (with a slow stat poll as a
 * safety net), reads only the bytes appended since the last read, and survives truncation and
 * rotation. Starts at the end of the file: old lines are history, not news.
 */
export class LogTail {
  private offset = 0;
  /** Complete lines before `offset`; undefined when the file was too large to count at start. */
  private lines: number | undefined = 0;
  private inode = 0;
  private partial = '';
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private again = false;
  private readonly listeners = new Set<(line: LogLine) => void>();

  constructor(
    readonly path: string,
    private readonly pollMs = 1000,
    /** Longest line kept; longer ones are cut so a runaway writer cannot exhaust memory. */
    private readonly maxLineBytes = 64 * 1024,
  ) {}

  /** Subscribes to new lines; returns the unsubscribe function. */
  onLine(listener: (line: LogLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    try {
      const s = await stat(this.path);
      this.offset = s.size;
      this.inode = s.ino;
      this.lines = await countLines(this.path, s.size);
    } catch {
      this.offset = 0;
      this.lines = 0;
    }
    this.watchFile();
    this.poll = setInterval(() => this.kick(), this.pollMs);
    this.poll.unref();
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poll) clearInterval(this.poll);
  }

  /** Reads what is new now (also what the file watcher calls). Resolves when caught up. */
  async kick(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        await this.readNew();
      } while (this.again);
    })().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private watchFile(): void {
    try {
      this.watcher = watch(this.path, { persistent: false }, () => void this.kick());
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // The file does not exist yet: the poll picks it up and re-arms the watcher.
      this.watcher = undefined;
    }
  }

  private async readNew(): Promise<void> {
    let s;
    try {
      s = await stat(this.path);
    } catch {
      return;
    }
    if (s.ino !== this.inode || s.size < this.offset) {
      // Rotated or truncated: start over on the new file.
      this.inode = s.ino;
      this.offset = 0;
      this.lines = 0;
      this.partial = '';
      this.watcher?.close();
      this.watcher = undefined;
    }
    if (!this.watcher) this.watchFile();
    if (s.size === this.offset) return;
    const handle = await open(this.path, 'r');
    try {
      const length = Math.min(s.size - this.offset, 4 * 1024 * 1024);
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, this.offset);
      this.offset += bytesRead;
      this.emit(buffer.toString('utf8', 0, bytesRead));
    } finally {
      await handle.close();
    }
    if (this.offset < s.size) this.again = true;
  }

  private emit(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = (lines.pop() ?? '').slice(-this.maxLineBytes);
    const readAt = Date.now();
    for (const raw of lines) {
      if (this.lines !== undefined) this.lines++;
      const text = raw.length > this.maxLineBytes ? raw.slice(0, this.maxLineBytes) : raw;
      if (!text.trim()) continue;
      let json: Record<string, unknown> | undefined;
      if (text.startsWith('{')) {
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          json = undefined;
        }
      }
      const where = { file: this.path, ...(this.lines === undefined ? {} : { lineNumber: this.lines }) };
      const line: LogLine = json ? { text, json, readAt, ...where } : { text, readAt, ...where };
      for (const listener of this.listeners) listener(line);
    }
  }
}

/** Largest log whose lines are counted at start (to number the lines that follow). */
const COUNT_LINES_UP_TO = 256 * 1024 * 1024;

/** Newlines in the first `size` bytes of a file; undefined past {@link COUNT_LINES_UP_TO}. */
async function countLines(path: string, size: number): Promise<number | undefined> {
  if (size > COUNT_LINES_UP_TO) return undefined;
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(Math.min(size, 1 << 20) || 1);
    let count = 0;
    for (let position = 0; position < size;) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - position), position);
      if (bytesRead === 0) break;
      for (let i = buffer.indexOf(10, 0); i !== -1 && i < bytesRead; i = buffer.indexOf(10, i + 1)) count++;
      position += bytesRead;
    }
    return count;
  } finally {
    await handle.close();
  }
}
