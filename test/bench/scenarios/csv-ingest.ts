export const csvIngest = {} as never;
