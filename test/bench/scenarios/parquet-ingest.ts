export const parquetIngest = {} as never;
