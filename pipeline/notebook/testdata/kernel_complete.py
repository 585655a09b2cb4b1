"""Asks the GoNB kernel (the repository's kernelspec) for completions and docs
over Jupyter's kernel protocol, through jupyter-client, as a notebook server
does when the user presses Tab or Shift-Tab. Prints one JSON object:
{"complete": <complete_reply content>, "inspect": <inspect_reply content>}.

Usage: python3 kernel_complete.py CODE_FOR_COMPLETE CODE_FOR_INSPECT [CELL]
(the cursor is at the end of each code). CELL, when given, is executed
first, as a user runs cells before pressing Tab; its reply status and
output go into the JSON as "execute". The environment must carry
JUPYTER_PATH, PATH (gonb, gopls, go) and DATALAB_ROOT, as pipeline/notebook
sets them.
"""
import json
import sys
import time

from jupyter_client.manager import start_new_kernel

complete_code, inspect_code = sys.argv[1], sys.argv[2]
cell = sys.argv[3] if len(sys.argv) > 3 else None
km, kc = start_new_kernel(kernel_name="gonb", startup_timeout=120)
try:
    out = {"attempts": {}}
    if cell is not None:
        stdout = []
        reply = kc.execute_interactive(cell, timeout=240,
                                       output_hook=lambda m: stdout.append(m["content"].get("text", "")))
        out["execute"] = {"status": reply["content"]["status"], "stdout": "".join(stdout)}
    # gopls loads the workspace (the checkout, through go.work) on the first
    # request, which takes longer than GoNB waits for an answer (8 s), and
    # re-reads the scratch main.go GoNB rewrites for each request: the first
    # replies can be errors or empty. Ask again, as a user presses Tab or
    # Shift-Tab again, for up to four minutes in all.
    deadline = time.monotonic() + 240

    def ask(name, send, good):
        out["attempts"][name] = 0
        while True:
            out["attempts"][name] += 1
            send()
            out[name] = kc.get_shell_msg(timeout=120)["content"]
            if good(out[name]) or time.monotonic() > deadline:
                return
            time.sleep(2)

    ask("complete", lambda: kc.complete(complete_code, len(complete_code)),
        lambda c: bool(c.get("matches")))
    ask("inspect", lambda: kc.inspect(inspect_code, len(inspect_code), detail_level=0),
        lambda c: c.get("found") and "func " in json.dumps(c.get("data", {})))
    json.dump(out, sys.stdout)
finally:
    kc.stop_channels()
    # A graceful shutdown (shutdown_request): GoNB then stops its gopls; a
    # killed kernel leaves gopls running.
    km.shutdown_kernel(now=False)
