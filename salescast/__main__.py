from salescast.cli import main

main()
