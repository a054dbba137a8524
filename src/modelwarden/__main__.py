from modelwarden.cli import main

main()
