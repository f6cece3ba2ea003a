const open = new Map<object, string>();

/** Records a resource a test opened; {@link release} it when closed. */
export function track<T extends object>(resource: T, label: string): T {
  open.set(resource, label);
  return resource;
}

export function release(resource: object): void {
  open.delete(resource);
}

export function openResources(): string[] {
  return [...open.values()];
}
