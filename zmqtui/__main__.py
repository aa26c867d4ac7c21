from zmqtui.cli import main

main(prog_name="zmqtui")
