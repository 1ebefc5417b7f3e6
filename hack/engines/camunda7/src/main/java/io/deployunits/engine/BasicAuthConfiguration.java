package io.deployunits.engine;

import org.camunda.bpm.engine.rest.security.auth.ProcessEngineAuthenticationFilter;
import org.camunda.bpm.engine.rest.security.auth.impl.HttpBasicAuthenticationProvider;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * HTTP basic auth on the REST API, on when engine.auth.enabled=true.
 *
 * <p>The Spring Boot starter has no switch for it (Camunda Run's camunda.bpm.run.auth is not in
 * the starter), so this registers Camunda's own filter, which checks the credentials against the
 * engine's users: the admin user made at start from camunda.bpm.admin-user.* is the one to use.
 */
@Configuration
@ConditionalOnProperty(name = "engine.auth.enabled", havingValue = "true")
public class BasicAuthConfiguration {

  @Bean
  public FilterRegistrationBean<ProcessEngineAuthenticationFilter> restAuthentication() {
    FilterRegistrationBean<ProcessEngineAuthenticationFilter> registration =
        new FilterRegistrationBean<>(new ProcessEngineAuthenticationFilter());
    registration.setName("camunda-auth");
    registration.addInitParameter(
        "authentication-provider", HttpBasicAuthenticationProvider.class.getName());
    registration.addUrlPatterns("/engine-rest/*");
    return registration;
  }
}
