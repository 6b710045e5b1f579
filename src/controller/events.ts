// Events for operators: stored (append-only) first, then published in-process to live subscribers (the SSE
// stream). Storing and publishing happen in the same synchronous call, so a subscriber that reads the backlog
// and subscribes in one tick sees every event exactly once.
import type { Logger } from './logger.ts';
import type { EventFilter, EventInput, EventRecord, EventRepo } from './store/event-repo.ts';

export type EventListener = (event: EventRecord) => void;

export class EventBus {
  private readonly repo: EventRepo;
  private readonly logger: Logger;
  private readonly listeners = new Set<EventListener>();

  constructor(repo: EventRepo, logger: Logger) {
    this.repo = repo;
    this.logger = logger;
  }

  emit(input: EventInput): EventRecord {
    const event = this.repo.append(input);
    this.logger.debug({ event: { id: event.id, type: event.type, cluster: event.cluster } }, event.message);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn({ err }, 'event listener failed');
      }
    }
    return event;
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(filter?: EventFilter): EventRecord[] {
    return this.repo.list(filter);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }
}
