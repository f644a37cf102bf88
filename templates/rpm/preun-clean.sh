# On erase, remove the byte-code post compiled: rpm does not own it.
if [ "$1" -eq 0 ]; then
    find "{{ layout.libdir }}" -depth -type d -name __pycache__ -exec rm -rf {} + 2>/dev/null || :
fi
