from taskops.cli.main import main

main()
