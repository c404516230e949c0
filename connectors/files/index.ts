// File sources and writers (fromFiles, fromImageFolder, parseExample, writers): filled in by issue 4.
export {};
