/** The message of the configuration error `load` throws; fails the test when it throws none. */
export function configErrorOf(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a configuration error');
}
