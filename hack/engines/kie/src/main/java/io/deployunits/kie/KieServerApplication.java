package io.deployunits.kie;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** A KIE Server (jBPM) with its REST API under /rest/server, for tests and `make run`. */
@SpringBootApplication
public class KieServerApplication {

  public static void main(String[] args) {
    SpringApplication.run(KieServerApplication.class, args);
  }
}
