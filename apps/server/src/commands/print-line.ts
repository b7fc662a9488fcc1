/** Printing is what these commands are for: one JSON line per result on stdout. */
export function printLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * Prints a line and resolves once it has left this process. Writes to a pipe are asynchronous in Node: a
 * consumer that counted a message as processed while its line still sat in our buffer would lose that line
 * (and, its offset committed, the message) if it were killed — so `litemq consume` waits for each line.
 */
export function printLineFlushed(value: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(`${JSON.stringify(value)}\n`, (error) => (error ? reject(error) : resolve()));
  });
}
