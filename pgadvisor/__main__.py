from pgadvisor.cli import main

main()
