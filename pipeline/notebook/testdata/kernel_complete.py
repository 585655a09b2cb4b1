"""Asks the GoNB kernel (the repository's kernelspec) for completions and docs
over Jupyter's kernel protocol, through jupyter-client, as a notebook server
does when the user presses Tab or Shift-Tab. Prints one JSON object:
{"complete": <complete_reply content>, "inspect": <inspect_reply content>}.

Usage: python3 kernel_complete.py CODE_FOR_COMPLETE CODE_FOR_INSPECT
(the cursor is at the end of each code). The environment must carry
JUPYTER_PATH, PATH (gonb, gopls, go) and DATALAB_ROOT, as pipeline/notebook
sets them.
"""
import json
import sys
import time

from jupyter_client.manager import start_new_kernel

complete_code, inspect_code = sys.argv[1], sys.argv[2]
km, kc = start_new_kernel(kernel_name="gonb", startup_timeout=120)
try:
    out = {"attempts": 0}
    # gopls loads the workspace (the checkout, through go.work) on the first
    # request, which takes longer than GoNB waits for an answer (8 s), so the
    # first replies can be errors: ask again, as a user presses Tab again,
    # for up to four minutes.
    deadline = time.monotonic() + 240
    while True:
        out["attempts"] += 1
        kc.complete(complete_code, len(complete_code))
        out["complete"] = kc.get_shell_msg(timeout=120)["content"]
        if out["complete"].get("matches") or time.monotonic() > deadline:
            break
        time.sleep(2)
    kc.inspect(inspect_code, len(inspect_code), detail_level=0)
    out["inspect"] = kc.get_shell_msg(timeout=120)["content"]
    json.dump(out, sys.stdout)
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
