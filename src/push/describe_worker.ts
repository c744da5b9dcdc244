/**
 * The worker of `describeLayerFileOnWorker` (`./check.ts`): describes one layer file (its
 * digest, `diffId` and entry checks, in one pass) and answers once.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { sendableError } from "../errors/sent.ts";
import { type DescribeAnswer, describeLayerFile, type DescribeRequest } from "./check.ts";

self.onmessage = async ({ data }: MessageEvent<DescribeRequest>) => {
  let answer: DescribeAnswer;
  try {
    answer = { layer: await describeLayerFile(data.path) };
  } catch (error) {
    answer = { error: sendableError(error) };
  }
  self.postMessage(answer);
};
