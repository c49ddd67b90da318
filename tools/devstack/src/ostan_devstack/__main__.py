from ostan_devstack.stack import main

if __name__ == "__main__":
    main()
