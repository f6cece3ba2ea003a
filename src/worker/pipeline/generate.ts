import type { Source, Usage } from '../../shared/contracts.ts';
import type { ChatPort, ChatSettings } from '../../shared/ports.ts';

export interface Generation {
  answer: string;
  model: string;
  usage: Usage;
  finishReason?: string;
  generateMs: number;
}

/** Answers the question from the retrieved sources: the `generate` stage. */
export async function generate(
  input: { question: string; sources: Source[]; settings?: ChatSettings | undefined },
  ports: { chat: ChatPort },
): Promise<Generation> {
  const started = performance.now();
  const output = await ports.chat.answer({
    ...(input.settings ? { settings: input.settings } : {}),
    question: input.question,
    context: input.sources.map((s) => ({
      docId: s.id,
      chunk: s.chunk,
      text: s.text,
      score: s.score,
    })),
  });
  return {
    answer: output.text,
    model: output.model,
    usage: output.usage,
    ...(output.finishReason === undefined ? {} : { finishReason: output.finishReason }),
    generateMs: performance.now() - started,
  };
}
