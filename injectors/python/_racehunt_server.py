"""The entry of racehunt's fork server: racehunt runs `python _racehunt_server.py` with a
connected socket at the descriptor named by RACEHUNT_FORK_SERVER (docs/PROTOCOL.md, "Fork
server"); the server itself is _racehunt/server.py. Python 3.8 syntax only."""

if __name__ == "__main__":
    from _racehunt import server
    server.main(__file__)
