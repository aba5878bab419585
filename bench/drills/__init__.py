"""The fault drills, one module each, with what they share in common.py and browser.py; run
them through bench/drill.py."""
