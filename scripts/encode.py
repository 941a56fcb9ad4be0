"""Show how mt segments text for a model.

usage: python scripts/encode.py model=PATH [side=src|tgt] [ids=true] < lines

Reads lines on stdin and prints, one line each, the subword pieces (or with ids=true the ids) that mt
feeds the model for that side: ``side=src`` as the encoder reads it, ``side=tgt`` as the decoder is
trained to produce it. PATH is any model mt reads (an mt checkpoint, a Marian directory such as an
OPUS-MT model, a CTranslate2 export, or a SentencePiece .model file). A summary goes to stderr: how
many pieces were <unk> or UTF-8 byte pieces (characters the vocabulary lacks), the first thing to
check when a fine-tune goes wrong.

    echo "Zwei Hunde spielen im Schnee." | python scripts/encode.py model=opus-mt-de-en side=src
    python scripts/encode.py model=outputs/run/checkpoints/best.pt side=tgt ids=true < train.de
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from mt.data.formats import model_format, subword_models
from mt.data.tokenizer import Tokenizer
from mt.utils.cli import run_main
from mt.utils.errors import MTError

KEYS = {"model": None, "side": "src", "ids": "false"}


def parse(argv: list[str]) -> dict[str, str]:
    """``key=value`` arguments over ``KEYS``' defaults; a clear error for anything else."""
    args = dict(KEYS)
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in KEYS:
            raise MTError(f"unknown argument {arg!r}; expected {', '.join(f'{k}=...' for k in KEYS)} (see --help)")
        args[key] = value
    if not args["model"]:
        raise MTError("model=PATH is required: an mt checkpoint, a Marian or CTranslate2 directory, or a "
                      "SentencePiece .model file")
    if args["side"] not in ("src", "tgt"):
        raise MTError(f"side={args['side']!r} is not one of src, tgt")
    if args["ids"].lower() not in ("true", "false"):
        raise MTError(f"ids={args['ids']!r} is not true or false")
    return args


def encode_lines(tokenizer: Tokenizer, lines: Iterable[str], side: str, ids: bool,
                 out: TextIO, err: TextIO) -> None:
    """Write each line's ids or pieces for ``side`` to ``out``, and the coverage summary to ``err``."""
    encode = tokenizer.encode if side == "src" else tokenizer.encode_target
    model = tokenizer.source if side == "src" else tokenizer.target
    n_lines = n_pieces = unk = byte = 0
    for line in lines:
        row = encode(line.rstrip("\n"))
        n_lines, n_pieces = n_lines + 1, n_pieces + len(row)
        unk += sum(i == tokenizer.unk_id for i in row)
        byte += sum(model.processor.is_byte(i) for i in row if i < model.size)
        out.write(" ".join(str(i) if ids else model.processor.id_to_piece(i) for i in row) + "\n")
    share = (unk + byte) / max(1, n_pieces)
    kind = "joint" if tokenizer.joint else "separate"
    err.write(f"{n_lines} lines, {n_pieces} {side} pieces ({kind} vocabulary of {model.size}): {unk} <unk>, "
              f"{byte} byte pieces ({share:.1%} not covered by the vocabulary)\n")


def _run(argv: list[str]) -> None:
    args = parse(argv)
    tokenizer = Tokenizer.from_bytes(*subword_models(args["model"]))
    print(f"{args['model']}: {model_format(args['model'])}", file=sys.stderr)
    encode_lines(tokenizer, sys.stdin, args["side"], args["ids"].lower() == "true", sys.stdout, sys.stderr)


def main(argv: list[str]) -> None:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return
    run_main(lambda: _run(argv))


if __name__ == "__main__":
    main(sys.argv[1:])
