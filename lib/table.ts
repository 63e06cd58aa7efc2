import Table from 'cli-table3';

/** A cli-table3 table that uses colour only on a terminal (piped output stays plain text). */
export function createTable(head: string[]): InstanceType<typeof Table> {
  const colour = process.stdout.isTTY === true;
  return new Table({ head, ...(colour ? {} : { style: { head: [], border: [] } }) });
}
