"""A submission whose import never finishes."""

import time

while True:
    time.sleep(1)


def answer(question):  # never reached
    return {"status": "unknown", "answer": "", "citations": []}
